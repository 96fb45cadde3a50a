// @ts-check
// A local stand-in for the Stream Chat REST API: the calls this service makes,
// with Stream's semantics (upsert replaces the user, partial update merges,
// a deleted id cannot come back, 404 code 16 for unknown users), users kept in
// memory. It checks the api_key and the server JWT like Stream does.
// Used by `npm start` when no real Stream credentials are configured, and by
// the tests (one instance per test scenario).
//
// It also speaks the client connection the official SDKs open on
// `connectUser` (a WebSocket on /connect, read from stream-chat 9.53's
// stream-chat/src/connection.ts and stream-chat/src/client.ts): the user token is checked as Stream
// checks it (HS256 with the app secret, `user_id` = the connecting user,
// `exp`, the user's `revoke_tokens_issued_before` against `iat`, deleted and
// deactivated users refused), the user is created or updated from
// `user_details` as Stream does, and the first message is the `health.check`
// event with `connection_id` and `me`. A refusal is `{"error": {...}}` then a
// close: code 40 (expired or revoked) makes the SDK ask its token provider
// for a new token; any other code is final. A connection whose token
// expires is closed, as Stream closes it, so the SDK reconnects and
// refreshes. Every attempt is recorded in `connections`.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { decodeJwt, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';
import { listenOnLoopback } from './process.mjs';

/**
 * @typedef {{ method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: unknown }} RecordedRequest
 * @typedef {{ status: number; body?: unknown; rawBody?: string; headers?: Record<string, string>; method?: string; delayMs?: number }} ScriptedResponse
 * @typedef {{ method: string; path: string; query: Record<string, string>; headers: Record<string, string | string[] | undefined>; bodyText: string }} StandInRequest
 * @typedef {{ status: number; headers: Record<string, string>; body: string }} StandInResponse
 * @typedef {Record<string, unknown>} StoredUser
 * @typedef {{
 *   perMinute: Record<string, number>;
 *   perSecond?: boolean | Record<string, number>;
 *   window?: 'fixed' | 'rolling';
 *   now?: () => number;
 * }} RateLimitOptions
 *   Stream's per-endpoint app rate limits (opt-in; off by default). Keys are endpoints as
 *   `endpointKey` names them (`POST /users`, `PATCH /users`, `GET /users`, `DELETE /users/{id}`,
 *   `POST /users/delete`, `GET /tasks/{id}`); an endpoint not listed is not limited.
 *   perMinute: requests (not users) accepted per minute. window: `fixed` (default) counts in calendar
 *   minutes of the Unix clock, X-RateLimit-Reset is the next minute's start; `rolling` counts the
 *   accepted requests of the last 60 s, X-RateLimit-Reset is when the oldest of them leaves the window.
 *   perSecond: also a per-second limit, in calendar seconds: `true` = 1/30 of the minute limit
 *   (floor, at least 1), or a number per endpoint; default off. A request over it is refused
 *   with headers naming the per-second limit, Remaining 0, and Reset the next second.
 *   A refused request (429, code 9) does not count. Scripted answers bypass the limits.
 * @typedef {{ allowed: boolean; scope: 'minute' | 'second'; headers: Record<string, string> }} RateLimitVerdict
 */

/**
 * The endpoint a request counts against: the method and the path with ids replaced by `{id}`.
 * @param {string} method
 * @param {string} path
 */
export function endpointKey(method, path) {
  if (/^\/users\/[^/]+$/.test(path) && path !== '/users/delete') return `${method} /users/{id}`;
  if (/^\/tasks\/[^/]+$/.test(path)) return `${method} /tasks/{id}`;
  return `${method} ${path}`;
}

/** Stream's per-endpoint app rate limits, counting requests, as StreamStandIn's `limits` option sets them. */
export class StreamRateLimiter {
  /** @param {RateLimitOptions} options */
  constructor(options) {
    this.perMinute = options.perMinute;
    this.window = options.window ?? 'fixed';
    this.now = options.now ?? Date.now;
    /** @type {Record<string, number>} */
    this.perSecond = {};
    if (options.perSecond === true) {
      for (const [key, limit] of Object.entries(this.perMinute)) this.perSecond[key] = Math.max(1, Math.floor(limit / 30));
    } else if (options.perSecond) this.perSecond = options.perSecond;
    /** @type {Map<string, { minuteStart: number; minuteCount: number; accepted: number[]; secondStart: number; secondCount: number }>} */
    this.state = new Map();
  }

  /** @param {string} key */
  #stateOf(key) {
    let state = this.state.get(key);
    if (!state) {
      state = { minuteStart: 0, minuteCount: 0, accepted: [], secondStart: 0, secondCount: 0 };
      this.state.set(key, state);
    }
    const now = this.now();
    const minuteStart = Math.floor(now / 60_000) * 60_000;
    if (state.minuteStart !== minuteStart) {
      state.minuteStart = minuteStart;
      state.minuteCount = 0;
    }
    while (state.accepted.length > 0 && /** @type {number} */ (state.accepted[0]) <= now - 60_000) state.accepted.shift();
    const secondStart = Math.floor(now / 1000) * 1000;
    if (state.secondStart !== secondStart) {
      state.secondStart = secondStart;
      state.secondCount = 0;
    }
    return { state, now };
  }

  /**
   * The minute window's count and reset (Unix ms).
   * @param {{ minuteStart: number; minuteCount: number; accepted: number[] }} state
   * @param {number} now
   */
  #minute(state, now) {
    if (this.window === 'rolling') {
      const oldest = state.accepted[0];
      return { count: state.accepted.length, resetMs: oldest === undefined ? now + 60_000 : oldest + 60_000 };
    }
    return { count: state.minuteCount, resetMs: state.minuteStart + 60_000 };
  }

  /**
   * Counts one request against `key` if its limits allow it.
   * @param {string} key
   * @returns {RateLimitVerdict | undefined} undefined: the endpoint is not limited
   */
  take(key) {
    const limit = this.perMinute[key];
    if (limit === undefined) return undefined;
    const { state, now } = this.#stateOf(key);
    const minute = this.#minute(state, now);
    if (minute.count >= limit) return { allowed: false, scope: 'minute', headers: rateLimitHeaders(limit, 0, minute.resetMs) };
    const perSecond = this.perSecond[key];
    if (perSecond !== undefined && state.secondCount >= perSecond) {
      return { allowed: false, scope: 'second', headers: rateLimitHeaders(perSecond, 0, state.secondStart + 1000) };
    }
    state.minuteCount++;
    state.accepted.push(now);
    state.secondCount++;
    const after = this.#minute(state, now);
    return { allowed: true, scope: 'minute', headers: rateLimitHeaders(limit, limit - after.count, after.resetMs) };
  }

  /**
   * The headers for `key` without counting a request (answers refused before the limit applies).
   * @param {string} key
   * @returns {Record<string, string> | undefined}
   */
  peek(key) {
    const limit = this.perMinute[key];
    if (limit === undefined) return undefined;
    const { state, now } = this.#stateOf(key);
    const minute = this.#minute(state, now);
    return rateLimitHeaders(limit, Math.max(0, limit - minute.count), minute.resetMs);
  }
}

/**
 * @param {number} limit
 * @param {number} remaining
 * @param {number} resetMs Unix ms; sent as Unix seconds, rounded up
 * @returns {Record<string, string>}
 */
function rateLimitHeaders(limit, remaining, resetMs) {
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset': String(Math.ceil(resetMs / 1000)),
  };
}

/**
 * @param {StandInResponse} response
 * @param {Record<string, string> | undefined} headers
 * @returns {StandInResponse}
 */
function withHeaders(response, headers) {
  return headers ? { ...response, headers: { ...response.headers, ...headers } } : response;
}

export class StreamStandIn {
  /**
   * @param {{ apiKey?: string; secret: string; limits?: RateLimitOptions }} options apiKey: when set, other keys are
   *   refused; limits: Stream's per-endpoint rate limits (off unless given; see RateLimitOptions)
   */
  constructor(options) {
    this.apiKey = options.apiKey;
    this.secret = options.secret;
    /** Stream's per-endpoint rate limits; undefined (the default): none, and the fixed rate-limit headers of `json`. */
    this.limiter = options.limits ? new StreamRateLimiter(options.limits) : undefined;
    /** @type {Map<string, Record<string, unknown>>} */
    this.users = new Map();
    /** @type {Set<string>} */
    this.deleted = new Set();
    /** @type {RecordedRequest[]} */
    this.requests = [];
    /** @type {ScriptedResponse[]} answers given, in order, before the normal behaviour */
    this.script = [];
    /** @type {Map<string, { status: string; result: Record<string, unknown>; runningPolls: number }>} delete tasks */
    this.tasks = new Map();
    /** How many `GET /tasks/{id}` answer "running" before a delete task completes. */
    this.taskRunningPolls = 0;
    /** @type {Set<string>} user ids a delete task reports as failed (and leaves in place) */
    this.failDeletes = new Set();
    /** @type {{ at: number; userId: string | undefined; tokenIat: number | undefined; accepted: boolean; code?: number; reason: string }[]} every client connection attempt */
    this.connections = [];
    /** @type {Set<import('ws').WebSocket>} open client connections */
    this.sockets = new Set();
  }

  /**
   * What Stream answers a client connecting with these /connect query parameters.
   * @param {URLSearchParams} params
   * @returns {Promise<{ ok: true; user: StoredUser; exp: number | undefined } | { ok: false; code: number; status: number; reason: string; userId?: string; iat?: number }>}
   */
  async checkConnection(params) {
    /** @type {{ user_id?: unknown; user_details?: Record<string, unknown> }} */
    let json;
    try {
      json = JSON.parse(params.get('json') ?? '');
    } catch {
      return { ok: false, code: 4, status: 400, reason: 'json parameter is not JSON' };
    }
    const userId = typeof json.user_id === 'string' ? json.user_id : undefined;
    if (this.apiKey && params.get('api_key') !== this.apiKey)
      return { ok: false, code: 2, status: 401, reason: 'api_key not valid', userId };
    if (params.get('stream-auth-type') !== 'jwt')
      return { ok: false, code: 5, status: 401, reason: 'anonymous connections are not allowed', userId };
    const token = params.get('authorization') ?? '';
    /** @type {import('jose').JWTPayload} */
    let claims;
    try {
      claims = decodeJwt(token);
    } catch {
      return { ok: false, code: 43, status: 401, reason: 'token is not a JWT', userId };
    }
    const iat = typeof claims.iat === 'number' ? claims.iat : undefined;
    try {
      await jwtVerify(token, new TextEncoder().encode(this.secret), { algorithms: ['HS256'] });
    } catch (error) {
      const expired = /** @type {{ code?: string }} */ (error).code === 'ERR_JWT_EXPIRED';
      return expired
        ? { ok: false, code: 40, status: 401, reason: 'token expired', userId, iat }
        : { ok: false, code: 43, status: 401, reason: 'token signature is not valid', userId, iat };
    }
    if (!userId || claims.user_id !== userId) return { ok: false, code: 43, status: 401, reason: 'token is for another user', userId, iat };
    if (iat !== undefined && iat * 1000 > Date.now())
      return { ok: false, code: 42, status: 401, reason: 'token used before issue at (iat)', userId, iat };
    if (this.deleted.has(userId)) return { ok: false, code: 16, status: 404, reason: 'user was deleted', userId, iat };
    const existing = this.users.get(userId);
    if (existing?.deactivated_at) return { ok: false, code: 43, status: 401, reason: 'user is deactivated', userId, iat };
    const revokedBefore =
      typeof existing?.revoke_tokens_issued_before === 'string' ? Date.parse(existing.revoke_tokens_issued_before) : undefined;
    // A token without iat is invalid once the user has a revocation, as Stream does.
    if (revokedBefore !== undefined && (iat === undefined || iat * 1000 < revokedBefore))
      return { ok: false, code: 40, status: 401, reason: 'token revoked', userId, iat };
    // Client-side user creation: the user is created, or its given fields updated, from user_details.
    const now = new Date().toISOString();
    const details = Object.fromEntries(
      Object.entries(json.user_details ?? {}).filter(([field]) => ['name', 'image', 'language'].includes(field)),
    );
    const user = { ...(existing ?? { id: userId, role: 'user', created_at: now }), ...details, updated_at: now, last_active: now };
    this.users.set(userId, user);
    return { ok: true, user, exp: typeof claims.exp === 'number' ? claims.exp : undefined };
  }

  /**
   * Serves one client connection on an open WebSocket.
   * @param {import('ws').WebSocket} socket
   * @param {URLSearchParams} params
   */
  async serveConnection(socket, params) {
    const verdict = await this.checkConnection(params);
    this.connections.push({
      at: Date.now(),
      userId: verdict.ok ? /** @type {string} */ (verdict.user.id) : verdict.userId,
      tokenIat: verdict.ok ? undefined : verdict.iat,
      accepted: verdict.ok,
      ...(verdict.ok ? { reason: 'connected' } : { code: verdict.code, reason: verdict.reason }),
    });
    if (!verdict.ok) {
      socket.send(JSON.stringify({ error: { code: verdict.code, StatusCode: verdict.status, message: verdict.reason, more_info: '' } }));
      socket.close(1000);
      return;
    }
    const connectionId = randomUUID();
    const healthCheck = () =>
      JSON.stringify({
        type: 'health.check',
        connection_id: connectionId,
        cid: '*',
        me: { ...verdict.user, channel_mutes: [], mutes: [], blocked_user_ids: [], total_unread_count: 0, unread_channels: 0 },
        created_at: new Date().toISOString(),
      });
    this.sockets.add(socket);
    socket.send(healthCheck());
    // The client pings every 25 s and expects an event within 35 s: every ping gets a health.check.
    socket.on('message', () => socket.readyState === socket.OPEN && socket.send(healthCheck()));
    // Stream ends a connection whose token expires; the SDK reconnects, is refused with code 40, and refreshes.
    const expiresIn = verdict.exp === undefined ? undefined : verdict.exp * 1000 - Date.now();
    const timer = expiresIn === undefined ? undefined : setTimeout(() => socket.close(4000, 'token expired'), Math.max(0, expiresIn));
    socket.on('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
  }

  /**
   * @param {StandInRequest} request
   * @returns {Promise<StandInResponse>}
   */
  async handle(request) {
    const { method, path, query } = request;
    /** @type {any} the JSON the service sends; the routes below read it as Stream would */
    let body;
    if (request.bodyText !== '') {
      try {
        body = JSON.parse(request.bodyText);
      } catch {
        body = request.bodyText;
      }
    }
    /** @type {Record<string, string>} */
    const headers = {};
    for (const name of ['authorization', 'stream-auth-type', 'content-type']) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    this.requests.push({ method, path, query, headers, body });

    const scriptIndex = this.script.findIndex((s) => !s.method || s.method === method);
    if (scriptIndex >= 0) {
      const scripted = /** @type {ScriptedResponse} */ (this.script.splice(scriptIndex, 1)[0]);
      if (scripted.delayMs) await new Promise((resolve) => setTimeout(resolve, scripted.delayMs));
      if (scripted.rawBody !== undefined) {
        return { status: scripted.status, headers: { 'content-type': 'text/plain', ...scripted.headers }, body: scripted.rawBody };
      }
      return json(scripted.status, scripted.body ?? {}, scripted.headers);
    }

    const key = endpointKey(method, path);
    if (!query.api_key || (this.apiKey && query.api_key !== this.apiKey))
      return withHeaders(error(401, 2, 'api_key not valid'), this.limiter?.peek(key));
    try {
      const { payload } = await jwtVerify(headers.authorization ?? '', new TextEncoder().encode(this.secret), { algorithms: ['HS256'] });
      if (payload.server !== true) throw new Error('not a server token');
      if (headers['stream-auth-type'] !== 'jwt') throw new Error('stream-auth-type');
    } catch {
      return withHeaders(error(401, 5, 'invalid server token'), this.limiter?.peek(key));
    }
    const verdict = this.limiter?.take(key);
    if (verdict && !verdict.allowed) {
      return withHeaders(error(429, 9, 'Too many requests, check response headers for more information.'), verdict.headers);
    }
    return withHeaders(this.#route(method, path, query, body), verdict?.headers);
  }

  /**
   * The API itself, once the request is authenticated and within its limits.
   * @param {string} method
   * @param {string} path
   * @param {Record<string, string>} query
   * @param {any} body
   * @returns {StandInResponse}
   */
  #route(method, path, query, body) {
    const users = this.users;
    const now = new Date().toISOString();
    if (method === 'POST' && path === '/users') {
      /** @type {Record<string, StoredUser>} */
      const out = {};
      for (const [id, user] of Object.entries(/** @type {Record<string, StoredUser>} */ (body.users))) {
        if (this.deleted.has(id)) return error(404, 16, `user "${id}" was deleted`);
        const stored = { ...user, id, role: user.role ?? 'user', created_at: users.get(id)?.created_at ?? now, updated_at: now };
        users.set(id, stored); // upsert replaces the whole user, as Stream does
        out[id] = stored;
      }
      return json(201, { users: out, duration: '1ms' });
    }
    if (method === 'PATCH' && path === '/users') {
      /** @type {Record<string, StoredUser>} */
      const out = {};
      for (const update of /** @type {{ id: string; set?: StoredUser; unset?: string[] }[]} */ (body.users)) {
        const existing = users.get(update.id);
        if (!existing) return error(404, 16, `user "${update.id}" does not exist`);
        /** @type {StoredUser} */
        const next = { ...existing, ...(update.set ?? {}), updated_at: now };
        for (const field of update.unset ?? []) delete next[field];
        users.set(update.id, next);
        out[update.id] = next;
      }
      return json(200, { users: out, duration: '1ms' });
    }
    if (method === 'GET' && path === '/app') {
      // What the doctor asks: the key and secret work (checked above).
      return json(200, { app: { name: 'stand-in', organization: 'local' }, duration: '1ms' });
    }
    if (method === 'GET' && path === '/users') {
      /** @type {{ filter_conditions?: Record<string, unknown>; sort?: { field: string; direction: number }[]; offset?: number; limit?: number; include_deactivated_users?: boolean }} */
      const payload = JSON.parse(query.payload ?? '{}');
      /** @type {any[]} */
      // Like Stream, deactivated users are only listed when asked for.
      const found = [...users.values()].filter(
        (user) => matches(user, payload.filter_conditions ?? {}) && (payload.include_deactivated_users === true || !user.deactivated_at),
      );
      for (const { field, direction } of [...(payload.sort ?? [])].reverse()) {
        found.sort((a, b) => (a[field] < b[field] ? -direction : a[field] > b[field] ? direction : 0));
      }
      const offset = payload.offset ?? 0;
      return json(200, { users: found.slice(offset, offset + (payload.limit ?? 100)), duration: '1ms' });
    }
    const one = /^\/users\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && one) {
      const id = decodeURIComponent(/** @type {string} */ (one[1]));
      const user = users.get(id);
      if (!user) return error(404, 16, `user "${id}" does not exist`);
      users.delete(id);
      this.deleted.add(id);
      return json(200, { user: { ...user, deleted_at: now }, duration: '1ms' });
    }
    if (method === 'POST' && path === '/users/delete') {
      // Stream's current delete: up to 100 ids, marked deleted at once, an asynchronous task to poll.
      const ids = body?.user_ids;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 100 || !ids.every((id) => typeof id === 'string')) {
        return error(400, 4, 'user_ids must be 1 to 100 user ids');
      }
      if (!['soft', 'hard', 'pruning'].includes(body.user ?? 'soft')) return error(400, 4, 'user must be soft, hard or pruning');
      if (body.user === 'hard' && (body.messages !== 'hard' || body.conversations !== 'hard')) {
        return error(400, 4, 'hard user deletion requires hard deletion of messages and conversations');
      }
      /** @type {Record<string, unknown>} */
      const result = {};
      for (const id of ids) {
        if (this.failDeletes.has(id)) result[id] = { status: 'error', error: 'internal error deleting user' };
        else if (users.delete(id)) {
          this.deleted.add(id);
          result[id] = { status: 'ok' };
        } else result[id] = { status: 'error', error: `user ${id} not found` };
      }
      const taskId = `task-${this.tasks.size + 1}-${Math.random().toString(36).slice(2, 8)}`;
      this.tasks.set(taskId, { status: 'completed', result, runningPolls: this.taskRunningPolls });
      return json(201, { task_id: taskId, duration: '1ms' });
    }
    const task = /^\/tasks\/([^/]+)$/.exec(path);
    if (method === 'GET' && task) {
      const id = decodeURIComponent(/** @type {string} */ (task[1]));
      const entry = this.tasks.get(id);
      if (!entry) return error(404, 16, `task ${id} does not exist`);
      if (entry.runningPolls > 0) {
        entry.runningPolls--;
        return json(200, { task_id: id, status: 'running', duration: '1ms' });
      }
      return json(200, { task_id: id, status: entry.status, result: entry.result, duration: '1ms' });
    }
    return error(404, 4, `the stand-in does not implement ${method} ${path}`);
  }
}

/**
 * The filter operators this service and its scripts use: $eq, $in, $gt, $gte, $lt, $lte per field.
 * @param {StoredUser} user
 * @param {Record<string, unknown>} filter
 */
function matches(user, filter) {
  return Object.entries(filter).every(([field, condition]) => {
    /** @type {any} */
    const value = user[field];
    if (condition === null || typeof condition !== 'object') return value === condition;
    return Object.entries(condition).every((/** @type {[string, any]} */ [operator, operand]) => {
      switch (operator) {
        case '$eq':
          return value === operand;
        case '$in':
          return operand.includes(value);
        case '$gt':
          return value > operand;
        case '$gte':
          return value >= operand;
        case '$lt':
          return value < operand;
        case '$lte':
          return value <= operand;
        default:
          throw new Error(`the stand-in does not implement filter operator ${operator}`);
      }
    });
  });
}

/**
 * Stream sends its rate-limit headers on every answer; so does the stand-in.
 * @param {number} status
 * @param {unknown} body
 * @param {Record<string, string>} [headers]
 * @returns {StandInResponse}
 */
function json(status, body, headers = {}) {
  const reset = String(Math.floor(Date.now() / 1000) + 60);
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-ratelimit-limit': '300',
      'x-ratelimit-remaining': '299',
      'x-ratelimit-reset': reset,
      ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
    },
    body: JSON.stringify(body),
  };
}

/**
 * A Stream error answer.
 * @param {number} status
 * @param {number} code
 * @param {string} message
 */
function error(status, code, message) {
  return json(status, { code, message, StatusCode: status, duration: '0.01ms', more_info: '' });
}

/**
 * Reads a Node request into what StreamStandIn.handle takes.
 * @param {import('node:http').IncomingMessage} req
 * @param {string} [path] the path as the stand-in sees it (default: the request's)
 * @returns {Promise<StandInRequest>}
 */
export async function readNodeRequest(req, path) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  return {
    method: req.method ?? 'GET',
    path: path ?? url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: req.headers,
    bodyText: Buffer.concat(chunks).toString('utf8'),
  };
}

/**
 * Writes a StandInResponse to a Node response.
 * @param {import('node:http').ServerResponse} res
 * @param {StandInResponse} response
 */
export function writeNodeResponse(res, response) {
  res.writeHead(response.status, response.headers);
  res.end(response.body);
}

/**
 * Serves one StreamStandIn on 127.0.0.1 (for `npm start`).
 * @param {{ apiKey?: string; secret: string; port?: number; log?: (line: string) => void; limits?: RateLimitOptions }} options port 0: a free one;
 *   limits: Stream's rate limits (off unless given)
 * @returns {Promise<{ url: string; standIn: StreamStandIn; close: () => Promise<void> }>}
 */
export async function serveStreamStandIn({ apiKey, secret, port = 0, log, limits }) {
  const standIn = new StreamStandIn({ apiKey, secret, limits });
  const sockets = new WebSocketServer({ noServer: true });
  const server = createServer(async (req, res) => {
    try {
      const request = await readNodeRequest(req);
      const response = await standIn.handle(request);
      log?.(`${request.method} ${request.path} → ${response.status}`);
      writeNodeResponse(res, response);
    } catch (err) {
      writeNodeResponse(res, error(500, -1, err instanceof Error ? err.message : String(err)));
    }
  });
  // The client connection (connectUser): ws://<stand-in>/connect?json=…&api_key=…&authorization=…&stream-auth-type=jwt
  server.on('upgrade', (req, socket, head) => {
    const requestUrl = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (requestUrl.pathname !== '/connect') {
      socket.destroy();
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      log?.(`WS /connect`);
      void standIn.serveConnection(ws, requestUrl.searchParams);
    });
  });
  const { url, close: closeServer } = await listenOnLoopback(server, port);
  const close = async () => {
    for (const ws of standIn.sockets) ws.terminate();
    sockets.close();
    await closeServer();
  };
  return { url, standIn, close };
}
