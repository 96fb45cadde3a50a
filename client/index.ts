/**
 * The client side of stream-token-edge: a Stream `tokenProvider` for apps
 * that sign in with Firebase, and the two other calls an app makes (revoke
 * on sign-out, delete after the Firebase account is deleted). No dependency:
 * it takes the Worker's URL and a `getIdToken(forceRefresh)` function (the
 * Firebase SDK's `user.getIdToken`), and uses `fetch`.
 *
 *   const provider = createStreamTokenProvider({ url, getIdToken: (force) => auth.currentUser!.getIdToken(force) });
 *   await chat.connectUser({ id: auth.currentUser!.uid }, provider);
 *
 * Rules (the same as examples/flutter's StreamTokenService):
 * 1. The first token comes from the create route (`POST /v1/users/me` or
 *    `createStreamUserAndGetToken`), so the Stream user exists with its
 *    Firebase profile; plain token routes after that.
 * 2. A token is kept in memory until shortly before its `exp` and handed to
 *    the SDK once: the SDK asks again only when Stream refused the token
 *    (expired or revoked, code 40), so a second call always fetches a new
 *    one, and concurrent calls share one request.
 * 3. An ID token the Worker refuses as invalid or revoked is refreshed
 *    (`getIdToken(true)`) once; a second refusal fails with its code.
 * 4. 429 and 503 are retried after `Retry-After` (bounded in tries and
 *    wait), then fail with the Worker's code.
 * 5. Tokens are never logged or stored outside memory.
 */
export type Protocol = 'rest' | 'callable';

export interface StreamTokenProviderOptions {
  /** The Worker's base URL, e.g. `https://chat-tokens.example.com`. */
  url: string;
  /** The Firebase SDK's `user.getIdToken(forceRefresh)`. */
  getIdToken: (forceRefresh: boolean) => Promise<string>;
  /** `rest` (default: `/v1/token`, `/v1/users/me`) or `callable` (the Firebase callable protocol). */
  protocol?: Protocol;
  /** Create the Stream user on first use (default true); false: plain tokens only. */
  createUser?: boolean;
  /** Retries of a 429 or 503 (default 3). */
  maxRetries?: number;
  /** Longest single wait for `Retry-After`, in seconds (default 30). */
  maxRetryAfterSeconds?: number;
  /** A kept token is not handed out within this many seconds of its `exp` (default 60). */
  refreshMarginSeconds?: number;
  /** Longest wait for one answer of the Worker, in ms (default 10,000): a hung request fails, never waits forever. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The provider: call it for a token; `user` is the Stream user as the create route wrote it. */
export interface StreamTokenProvider {
  (): Promise<string>;
  /** The user as written to Stream (id, name, image), once the create route answered (REST). */
  readonly user: { id: string; name?: string; image?: string } | undefined;
  /** Forget the kept token (e.g. after signing out). */
  reset(): void;
  /** Fetch a token ahead (e.g. right after sign-in), so `connectUser` does not wait for it. */
  prefetch(): Promise<void>;
}

/** A refusal from the Worker, with its stable code (REST `code`, or the callable status). */
export class StreamTokenError extends Error {
  override readonly name = 'StreamTokenError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const CALLABLE = { create: 'createStreamUserAndGetToken', token: 'getStreamUserToken', revoke: 'revokeStreamUserToken', delete: 'deleteStreamUser' } as const;
const REST = { create: '/v1/users/me', token: '/v1/token', revoke: '/v1/token/revoke', delete: '/v1/users/me/delete' } as const;
type Call = keyof typeof REST;

/** Codes after which a fresh ID token may help: the ID token expired, or was revoked or not yet valid. */
const STALE_ID_TOKEN = new Set(['invalid_token', 'token_revoked', 'UNAUTHENTICATED']);

export function createStreamTokenProvider(options: StreamTokenProviderOptions): StreamTokenProvider {
  const margin = (options.refreshMarginSeconds ?? 60) * 1000;
  const now = options.now ?? Date.now;
  let created = options.createUser === false;
  let kept: { token: string; expiresAt: number | null } | undefined;
  let inFlight: Promise<string> | undefined;
  let user: StreamTokenProvider['user'];

  const fetchToken = async (): Promise<string> => {
    const answer = await call(options, created ? 'token' : 'create');
    created = true;
    const token = typeof answer === 'string' ? answer : (answer.token as string);
    if (typeof token !== 'string' || token.split('.').length !== 3) throw new StreamTokenError('bad_answer', 200, 'The Worker answered without a token');
    if (typeof answer === 'object' && answer.user) user = answer.user as StreamTokenProvider['user'];
    return token;
  };

  const provider = (async () => {
    // A token kept from earlier (and never handed out) is used while it is fresh.
    if (kept && (kept.expiresAt === null || kept.expiresAt - now() > margin)) {
      const { token } = kept;
      kept = undefined; // handed out once: if the SDK asks again, Stream refused it
      return token;
    }
    kept = undefined;
    inFlight ??= fetchToken().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }) as StreamTokenProvider;
  Object.defineProperty(provider, 'user', { get: () => user });
  provider.reset = () => {
    kept = undefined;
  };
  provider.prefetch = async () => {
    const token = await fetchToken();
    kept = { token, expiresAt: expiryOf(token) };
  };
  return provider;
}

/** Revokes every Stream token of the signed-in user (call it on sign-out, before signing out of Firebase). */
export async function revokeStreamTokens(options: Pick<StreamTokenProviderOptions, 'url' | 'getIdToken' | 'protocol' | 'fetch' | 'sleep' | 'maxRetries' | 'maxRetryAfterSeconds' | 'timeoutMs'>): Promise<{ revokedBefore: string }> {
  const answer = (await call(options, 'revoke')) as { revoked_before: string };
  return { revokedBefore: answer.revoked_before };
}

/**
 * Deletes the user's Stream user right after the app deleted the Firebase
 * account (with the ID token it still holds: get it before deleting).
 * `completed: false` means the deletion is under way and finishes on the server.
 */
export async function deleteStreamUser(
  options: Pick<StreamTokenProviderOptions, 'url' | 'protocol' | 'fetch' | 'sleep' | 'maxRetries' | 'maxRetryAfterSeconds' | 'timeoutMs'> & { idToken: string },
): Promise<{ deleted: boolean; completed?: boolean; reason?: string }> {
  const { idToken } = options;
  return (await call({ ...options, getIdToken: async () => idToken }, 'delete')) as { deleted: boolean; completed?: boolean; reason?: string };
}

/** One call to the Worker, with the ID-token refresh and the Retry-After rules. */
async function call(options: Pick<StreamTokenProviderOptions, 'url' | 'getIdToken' | 'protocol' | 'fetch' | 'sleep' | 'maxRetries' | 'maxRetryAfterSeconds' | 'timeoutMs'>, which: Call): Promise<Record<string, unknown> | string> {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const callable = options.protocol === 'callable';
  const base = options.url.replace(/\/+$/, '');
  const maxRetries = options.maxRetries ?? 3;
  let refreshed = false;
  let retries = 0;
  for (;;) {
    const idToken = await options.getIdToken(refreshed);
    const response = await doFetch(callable ? `${base}/${CALLABLE[which]}` : `${base}${REST[which]}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${idToken}`, ...(callable ? { 'Content-Type': 'application/json' } : {}) },
      ...(callable ? { body: JSON.stringify({ data: null }) } : {}),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.ok) return callable ? (body.result as Record<string, unknown> | string) : body;
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
    if ((response.status === 429 || response.status === 503) && retries < maxRetries && Number.isFinite(retryAfter) && retryAfter >= 0) {
      if (retryAfter <= (options.maxRetryAfterSeconds ?? 30)) {
        retries++;
        await sleep(Math.max(retryAfter, 1) * 1000);
        continue;
      }
    }
    throw new StreamTokenError(code, response.status, `stream-token-edge answered ${response.status} ${code}: ${message}`);
  }
}

/** `exp` of a Stream token in ms (null when it has none); undefined when unreadable. */
function expiryOf(token: string): number | null {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return 0; // unreadable: treated as expired, so never handed out from the cache
  }
}
