/**
 * A fake Worker behind `fetch` for the client's unit tests: it records each
 * request (path, headers, `redirect`, signal) and answers with what the test
 * scripts, defaulting to a token for the uid the ID token names. Stream-style
 * tokens are built here unsigned: the client reads, never verifies, them.
 */
export interface SeenRequest {
  path: string;
  authorization: string | null;
  redirect: RequestRedirect | undefined;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A Stream-style token for `uid`, expiring at `exp` (unix seconds; none when null). */
export function streamToken(uid: string, exp: number | null = Math.floor(Date.now() / 1000) + 3600, serial = 0): string {
  return `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ user_id: uid, ...(exp === null ? {} : { exp }), serial })}.sig`;
}

/** The uid an ID token of these tests names: `id-<uid>` (refreshed: `id-<uid>-fresh`). */
export const idTokenOf = (uid: string, fresh = false) => `id-${uid}${fresh ? '-fresh' : ''}`;
const uidOf = (authorization: string | null) => /^Bearer id-([^-]+)/.exec(authorization ?? '')?.[1] ?? 'nobody';

export type Answer = Response | ((request: SeenRequest) => Response | Promise<Response>);

export const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: 'about:blank', title: code, status, detail: `${code} detail`, code }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...headers },
  });
export const callableError = (status: number, callableStatus: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ error: { status: callableStatus, message: `${callableStatus} message` } }), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });

/** The Worker's normal answer to a request: a token for the ID token's uid (REST or callable), revoke, delete. */
export function normalAnswer(request: SeenRequest, serial: number): Response {
  const uid = uidOf(request.authorization);
  const token = streamToken(uid, Math.floor(Date.now() / 1000) + 3600, serial);
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  switch (request.path) {
    case '/v1/users/me':
      return json({ token, user_id: uid, api_key: 'key', expires_at: null, user: { id: uid, name: `name of ${uid}` } });
    case '/v1/token':
      return json({ token, user_id: uid, api_key: 'key', expires_at: null });
    case '/createStreamUserAndGetToken':
    case '/getStreamUserToken':
      return json({ result: token });
    case '/v1/token/revoke':
      return json({ revoked_before: '2026-01-01T00:00:00.000Z' });
    case '/revokeStreamUserToken':
      return json({ result: { revoked_before: '2026-01-01T00:00:00.000Z' } });
    case '/v1/users/me/delete':
      return json({ deleted: true, completed: false }, 202);
    case '/deleteStreamUser':
      return json({ result: { deleted: false, reason: 'firebase_account_exists' } });
    default:
      return json({ code: 'not_found' }, 404);
  }
}

/**
 * `fetch` for the client: scripted answers first (one each, in order), then
 * the normal ones. `hold()` makes the next requests wait until released, to
 * stage races; every request honours its abort signal, as `fetch` does.
 */
export function fakeWorker(script: Answer[] = []) {
  const seen: SeenRequest[] = [];
  const held: (() => void)[] = [];
  let holding = false;
  let serial = 0;
  const fetch = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const request: SeenRequest = {
      path: url.pathname,
      authorization: new Headers(init.headers).get('Authorization'),
      redirect: init.redirect,
      body: typeof init.body === 'string' ? init.body : undefined,
      signal: init.signal ?? undefined,
    };
    seen.push(request);
    const aborted = new Promise<never>((_, reject) => {
      if (request.signal?.aborted) reject(request.signal.reason);
      request.signal?.addEventListener('abort', () => reject(request.signal!.reason ?? new DOMException('aborted', 'AbortError')));
    });
    aborted.catch(() => undefined);
    if (holding) await Promise.race([new Promise<void>((resolve) => held.push(resolve)), aborted]);
    const next = script.shift();
    const answer = next === undefined ? normalAnswer(request, ++serial) : typeof next === 'function' ? await next(request) : next;
    return Promise.race([answer, aborted]);
  }) as typeof globalThis.fetch;
  return {
    fetch,
    seen,
    paths: () => seen.map((request) => request.path),
    /** Requests from now on wait for release(). */
    hold: () => void (holding = true),
    /** Answers every waiting request, and stops holding. */
    release: () => {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
    waiting: () => held.length,
  };
}

/** Lets every pending promise callback run. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

export function payloadOf(token: string): { user_id: string; exp?: number; serial: number } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { user_id: string; exp?: number; serial: number };
}
