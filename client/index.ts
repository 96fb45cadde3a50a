/**
 * The client side of stream-token-edge: a Stream `tokenProvider` for apps
 * that sign in with Firebase (Stream Chat's `connectUser`, Stream Video's
 * `tokenProvider`), and the two other calls an app makes (revoke on
 * sign-out, delete after the Firebase account is deleted). No dependency at
 * run time (the Worker's answer types are imported as types only): it takes
 * the Worker's URL and a `getIdToken(forceRefresh)` function (the Firebase
 * SDK's `user.getIdToken`), and uses `fetch`.
 *
 *   const provider = createStreamTokenProvider({
 *     url, getIdToken: (force) => auth.currentUser!.getIdToken(force), getUid: () => auth.currentUser?.uid,
 *   });
 *   await chat.connectUser({ id: auth.currentUser!.uid }, provider);
 *   // sign-out: await revokeStreamTokens({ url, getIdToken }); provider.reset(); await signOut(auth);
 *
 * Rules (the same as examples/flutter's StreamTokenService):
 * 1. The first token comes from the create route (`POST /v1/users/me` or
 *    `createStreamUserAndGetToken`), so the Stream user exists with its
 *    Firebase profile; plain token routes after that.
 * 2. A token is kept in memory until shortly before its `exp` and handed to
 *    the SDK once: the SDK asks again only when Stream refused the token
 *    (expired or revoked, code 40), so a second call always fetches a new
 *    one, and concurrent calls (`prefetch()` included) share one request.
 * 3. One signed-in user per generation: `reset()` (sign-out) starts a new one
 *    and forgets everything of the last (kept token, request in flight,
 *    "created", `user`); whatever a request of an older generation brings
 *    back is dropped, never kept or handed to the next user. With `getUid`,
 *    a token whose `user_id` is not the signed-in uid is never returned.
 * 4. An ID token the Worker refuses as invalid or revoked is refreshed
 *    (`getIdToken(true)`) once; a second refusal fails with its code.
 * 5. 429 and 503 are retried after `Retry-After` plus a random jitter (two
 *    clients refused together do not come back in the same millisecond),
 *    bounded in tries and wait, then fail with the Worker's code.
 * 6. The ID token goes only to https (http only to this machine: localhost,
 *    127.0.0.0/8, [::1]) and never follows a redirect. Tokens are never
 *    logged or stored outside memory.
 */
import type { RevokeAnswer, SelfDeleteAnswer } from '../src/http/answers';

export type { RevokeAnswer, SelfDeleteAnswer };

export type Protocol = 'rest' | 'callable';

/** What every call to the Worker takes. */
export interface StreamCallOptions {
  /** The Worker's base URL, e.g. `https://chat-tokens.example.com` (http only to localhost, 127.0.0.0/8, [::1]). */
  url: string;
  /** The Firebase SDK's `user.getIdToken(forceRefresh)`. */
  getIdToken: (forceRefresh: boolean) => Promise<string>;
  /** `rest` (default: `/v1/token`, `/v1/users/me`, …) or `callable` (the Firebase callable protocol). */
  protocol?: Protocol;
  /** Retries of a 429 or 503 (default 3). */
  maxRetries?: number;
  /** Longest `Retry-After` waited for, in seconds (default 30): a longer one fails at once. */
  maxRetryAfterSeconds?: number;
  /** Longest wait for one answer of the Worker, in ms (default 10,000): a hung request fails, never waits forever. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the retries' jitter (default `Math.random`). */
  random?: () => number;
}

export interface StreamTokenProviderOptions extends StreamCallOptions {
  /** Create the Stream user on first use (default true); false: plain tokens only. */
  createUser?: boolean;
  /** A kept token is not handed out within this many seconds of its `exp` (default 60). */
  refreshMarginSeconds?: number;
  /** The signed-in uid (Firebase: `() => auth.currentUser?.uid`): a token for anyone else is never returned. */
  getUid?: () => string | null | undefined;
  now?: () => number;
}

/** The Stream user as the create route wrote it (REST). */
export interface StreamUser {
  id: string;
  name?: string;
  image?: string;
}

/** The provider: call it for a token; `user` is the Stream user as the create route wrote it. */
export interface StreamTokenProvider {
  (): Promise<string>;
  /** The user as written to Stream (id, name, image), once the create route answered (REST). */
  readonly user: StreamUser | undefined;
  /** Sign-out: forget everything of this user (kept token, request in flight, created, user). */
  reset(): void;
  /** Fetch a token ahead (e.g. right after sign-in), so `connectUser` does not wait for it. */
  prefetch(): Promise<void>;
}

/** A refusal from the Worker, with its stable code (REST `code`, or the callable status), or a client-side one. */
export class StreamTokenError extends Error {
  override readonly name = 'StreamTokenError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const CALLABLE = {
  create: 'createStreamUserAndGetToken',
  token: 'getStreamUserToken',
  revoke: 'revokeStreamUserToken',
  delete: 'deleteStreamUser',
} as const;
const REST = { create: '/v1/users/me', token: '/v1/token', revoke: '/v1/token/revoke', delete: '/v1/users/me/delete' } as const;
type Call = keyof typeof REST;
/** A token route's answer: the callable's result is the token; REST's a body with it. */
type TokenAnswer = string | { token?: unknown; user?: StreamUser };

/** Codes after which a fresh ID token may help: the ID token expired, or was revoked or not yet valid. */
const STALE_ID_TOKEN = new Set(['invalid_token', 'token_revoked', 'UNAUTHENTICATED']);
/** The retries' jitter: up to this much (or the wait itself, if shorter) on top of `Retry-After`. */
const MAX_JITTER_MS = 1000;

export function createStreamTokenProvider(options: StreamTokenProviderOptions): StreamTokenProvider {
  workerBase(options.url); // a URL the ID token must not go to fails here, not at the first token
  const margin = (options.refreshMarginSeconds ?? 60) * 1000;
  const now = options.now ?? Date.now;
  const createdAtStart = options.createUser === false;
  // All of the state below is one generation's: one signed-in user's. reset() starts the next.
  let generation = 0;
  let created = createdAtStart;
  let kept: { token: string; expiresAt: number | null } | undefined;
  let pending: { generation: number; promise: Promise<string>; claimed: boolean } | undefined;
  let user: StreamUser | undefined;

  const dropped = () => new StreamTokenError('reset', 0, 'The provider was reset (sign-out) while this token was fetched: it was dropped');
  const forSignedIn = (token: string) => {
    const uid = options.getUid?.();
    return !uid || claimsOf(token)?.user_id === uid;
  };

  const fetchToken = async (fetchedUnder: number): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      const answer = await call<TokenAnswer>(options, created ? 'token' : 'create');
      // Asked for by whoever was signed in then: after a reset it is nobody's to keep or to hand on.
      if (fetchedUnder !== generation) throw dropped();
      const token = typeof answer === 'string' ? answer : answer?.token;
      if (typeof token !== 'string' || token.split('.').length !== 3)
        throw new StreamTokenError('bad_answer', 200, 'The Worker answered without a token');
      if (!forSignedIn(token)) {
        // Asked for with an ID token of another user than the signed-in one (signed in again meanwhile,
        // without reset()): once more, with the ID token of now.
        if (attempt < 2) continue;
        throw new StreamTokenError('user_mismatch', 200, 'The Worker answered a token for another user than the signed-in one');
      }
      created = true;
      if (typeof answer === 'object' && answer.user) user = answer.user;
      return token;
    }
  };

  /** The request in flight, or a new one: every caller (prefetch too) shares it. */
  const inFlight = () => {
    if (pending) return pending;
    const entry = { generation, claimed: false, promise: Promise.resolve('') };
    entry.promise = fetchToken(generation).finally(() => {
      if (pending === entry) pending = undefined;
    });
    pending = entry;
    return entry;
  };
  const keptIsUsable = () => kept !== undefined && (kept.expiresAt === null || kept.expiresAt - now() > margin) && forSignedIn(kept.token);

  const provider = (async () => {
    // A token kept from earlier (and never handed out) is used while it is fresh and the signed-in user's.
    const usable = keptIsUsable();
    const token = kept?.token;
    kept = undefined; // handed out once: if the SDK asks again, Stream refused it
    if (usable && token) return token;
    const entry = inFlight();
    entry.claimed = true;
    const fetched = await entry.promise;
    if (entry.generation !== generation) throw dropped();
    return fetched;
  }) as StreamTokenProvider;
  Object.defineProperty(provider, 'user', { get: () => user });
  provider.reset = () => {
    generation++;
    kept = undefined;
    pending = undefined;
    created = createdAtStart;
    user = undefined;
  };
  provider.prefetch = async () => {
    if (keptIsUsable()) return;
    const entry = inFlight();
    let token: string;
    try {
      token = await entry.promise;
    } catch (error) {
      if (entry.generation !== generation) return; // a sign-out's business, not the prefetch's caller's
      throw error;
    }
    // Claimed by a caller meanwhile (it has the token), or fetched before a reset: nothing to keep.
    if (entry.claimed || entry.generation !== generation) return;
    kept = { token, expiresAt: expiryOf(token) };
  };
  return provider;
}

/** Revokes every Stream token of the signed-in user (call it on sign-out, before signing out of Firebase). */
export async function revokeStreamTokens(options: StreamCallOptions): Promise<RevokeAnswer> {
  return call<RevokeAnswer>(options, 'revoke');
}

/**
 * Deletes the user's Stream user right after the app deleted the Firebase
 * account. Take the ID token before deleting the account, and hand it over:
 * `getIdToken: async () => idToken` (a deleted account cannot refresh it).
 * `{deleted: true, completed: false}`: the deletion is under way and
 * finishes on the server; `{deleted: false, reason}`: nothing was deleted
 * (the next reconciliation run checks the uid again).
 */
export async function deleteStreamUser(options: StreamCallOptions): Promise<SelfDeleteAnswer> {
  return call<SelfDeleteAnswer>(options, 'delete');
}

/** One call to the Worker, with the ID-token refresh and the Retry-After rules. */
async function call<T>(options: StreamCallOptions, which: Call): Promise<T> {
  const base = workerBase(options.url);
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const callable = options.protocol === 'callable';
  const maxRetries = options.maxRetries ?? 3;
  const timeoutMs = options.timeoutMs ?? 10_000;
  let refreshed = false;
  let retries = 0;
  for (;;) {
    const idToken = await options.getIdToken(refreshed);
    const { response, body } = await post(
      doFetch,
      callable ? `${base}/${CALLABLE[which]}` : `${base}${REST[which]}`,
      idToken,
      callable,
      timeoutMs,
    );
    if (response.ok) return (callable ? body.result : body) as T;
    const error = body.error as { status?: string; message?: string } | undefined;
    const code = callable ? (error?.status ?? `HTTP_${response.status}`) : ((body.code as string | undefined) ?? `http_${response.status}`);
    const message = callable ? (error?.message ?? response.statusText) : ((body.detail as string | undefined) ?? response.statusText);
    if (response.status === 401 && STALE_ID_TOKEN.has(code) && !refreshed) {
      refreshed = true; // once: a fresh ID token from Firebase, then the answer stands
      continue;
    }
    // Retry-After in seconds; 1 s when absent (a proxy's answer, or a page the Worker's CORS does not cover).
    const header = response.headers.get('Retry-After');
    const retryAfter = header === null ? 1 : Number(header);
    const retryable = response.status === 429 || response.status === 503;
    if (
      retryable &&
      retries < maxRetries &&
      Number.isFinite(retryAfter) &&
      retryAfter >= 0 &&
      retryAfter <= (options.maxRetryAfterSeconds ?? 30)
    ) {
      retries++;
      const wait = Math.max(retryAfter, 1) * 1000;
      await sleep(wait + Math.floor(random() * Math.min(wait, MAX_JITTER_MS)));
      continue;
    }
    throw new StreamTokenError(code, response.status, `stream-token-edge answered ${response.status} ${code}: ${message}`);
  }
}

/** One POST, its answer read in full within `timeoutMs`; a redirect is an error (the ID token stays with this origin). */
async function post(
  doFetch: typeof fetch,
  url: string,
  idToken: string,
  callable: boolean,
  timeoutMs: number,
): Promise<{ response: Response; body: Record<string, unknown> }> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  try {
    const response = await doFetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${idToken}`, ...(callable ? { 'Content-Type': 'application/json' } : {}) },
      ...(callable ? { body: JSON.stringify({ data: null }) } : {}),
      redirect: 'error',
      signal: timeout.signal,
    });
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      throw new StreamTokenError(
        'redirected',
        response.status,
        `stream-token-edge answered with a redirect (${response.status}): not followed, the ID token is sent only to ${new URL(url).origin}`,
      );
    }
    const text = await response.text();
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // not JSON (a proxy's page): the status speaks
    }
    return { response, body };
  } catch (error) {
    if (error instanceof StreamTokenError) throw error;
    if (timeout.signal.aborted)
      throw new StreamTokenError('timeout', 0, `stream-token-edge did not answer within ${timeoutMs} ms (timeout)`, { cause: error });
    const reason = error instanceof Error ? error.message : String(error);
    throw new StreamTokenError('network_error', 0, `stream-token-edge could not be reached (a redirect is refused too): ${reason}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** The Worker's base URL without trailing slashes; an address the ID token must not go to is refused. */
function workerBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StreamTokenError('invalid_url', 0, `Not an absolute URL: ${url}`);
  }
  const loopback = parsed.hostname === 'localhost' || /^127(\.\d{1,3}){3}$/.test(parsed.hostname) || parsed.hostname === '[::1]';
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new StreamTokenError(
      'insecure_url',
      0,
      `Refusing ${parsed.protocol}//${parsed.host}: the ID token is sent over https only (http only to localhost, 127.0.0.0/8, [::1])`,
    );
  }
  return url.replace(/\/+$/, '');
}

/** A JWT's payload, unverified (the Worker signed it; this only reads whose and until when); undefined when unreadable. */
function claimsOf(token: string): { user_id?: unknown; exp?: unknown } | undefined {
  try {
    const base64 = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    return payload !== null && typeof payload === 'object' ? (payload as { user_id?: unknown; exp?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** `exp` of a Stream token in ms (null when it has none); 0 when unreadable, so never handed out from the cache. */
function expiryOf(token: string): number | null {
  const claims = claimsOf(token);
  if (!claims) return 0;
  return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
}
