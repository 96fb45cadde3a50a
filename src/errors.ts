/**
 * One error type for everything the service answers with on purpose.
 *
 * Each error has a stable `code` (for logs, tests and clients), a public
 * message that never contains a token, secret or key, and knows how it is
 * spelled in both protocols the service speaks: an HTTP status for REST
 * (RFC 9457 problem details) and a status for the Firebase callable protocol.
 * Mapping to responses happens once, at the edge of the app (src/http/respond.ts).
 */

/** Firebase callable protocol statuses we use, with their HTTP status. */
export const CALLABLE_HTTP_STATUS = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

type CallableStatus = keyof typeof CALLABLE_HTTP_STATUS;

export type ErrorCode =
  | 'missing_authorization'
  | 'invalid_token'
  | 'invalid_admin_token'
  | 'invalid_request'
  | 'unsupported_uid'
  | 'payload_too_large'
  | 'not_found'
  | 'method_not_allowed'
  | 'keys_unavailable'
  | 'stream_failed'
  | 'firebase_failed'
  | 'forbidden'
  | 'tenant_not_allowed'
  | 'tenant_mismatch'
  | 'anonymous_not_allowed'
  | 'user_deleted'
  | 'registry_unavailable'
  | 'rate_limited'
  | 'user_not_found'
  | 'user_disabled'
  | 'token_revoked'
  | 'firebase_unavailable'
  | 'app_check_failed'
  | 'stream_unavailable'
  | 'misconfigured'
  | 'internal';

interface Spelling {
  /** HTTP status of the REST answer. */
  http: number;
  /** Status of the callable answer (its HTTP status follows from it, except where `callableHttp` says otherwise). */
  callable: CallableStatus;
  callableHttp?: number;
  title: string;
}

const SPELLINGS: Record<ErrorCode, Spelling> = {
  // The original Cloud Functions answered a missing header with FAILED_PRECONDITION; REST clients get a plain 401.
  missing_authorization: { http: 401, callable: 'FAILED_PRECONDITION', title: 'Authorization required' },
  invalid_token: { http: 401, callable: 'UNAUTHENTICATED', title: 'Invalid ID token' },
  // The admin routes' bearer token is no ID token: a caller holding the wrong one must not go looking at Firebase.
  invalid_admin_token: { http: 401, callable: 'UNAUTHENTICATED', title: 'Invalid admin token' },
  invalid_request: { http: 400, callable: 'INVALID_ARGUMENT', title: 'Invalid request' },
  unsupported_uid: { http: 422, callable: 'FAILED_PRECONDITION', title: 'User id not supported by Stream' },
  payload_too_large: { http: 413, callable: 'INVALID_ARGUMENT', callableHttp: 413, title: 'Payload too large' },
  not_found: { http: 404, callable: 'NOT_FOUND', title: 'Not found' },
  method_not_allowed: { http: 405, callable: 'INVALID_ARGUMENT', callableHttp: 405, title: 'Method not allowed' },
  keys_unavailable: { http: 503, callable: 'UNAVAILABLE', title: 'Token verification unavailable' },
  // The original answered Stream failures with ABORTED; REST says it was the upstream that failed.
  stream_failed: { http: 502, callable: 'ABORTED', title: 'Stream request failed' },
  firebase_failed: { http: 502, callable: 'UNAVAILABLE', title: 'Firebase request failed' },
  // Stream's app-wide write budget is spent for the minute: come back, nothing was issued.
  stream_unavailable: { http: 503, callable: 'UNAVAILABLE', title: 'Stream is busy' },
  forbidden: { http: 403, callable: 'PERMISSION_DENIED', title: 'Forbidden' },
  tenant_not_allowed: { http: 403, callable: 'PERMISSION_DENIED', title: 'Tenant not allowed' },
  tenant_mismatch: { http: 403, callable: 'PERMISSION_DENIED', title: 'Tenant mismatch' },
  // FIREBASE_ANONYMOUS=deny (every route), or token-only (the routes that write to Stream).
  anonymous_not_allowed: { http: 403, callable: 'PERMISSION_DENIED', title: 'Anonymous users not allowed' },
  // Stream cannot create a user id again once it was deleted.
  user_deleted: { http: 410, callable: 'FAILED_PRECONDITION', title: 'Stream user deleted' },
  registry_unavailable: { http: 503, callable: 'UNAVAILABLE', title: 'Registry unavailable' },
  rate_limited: { http: 429, callable: 'RESOURCE_EXHAUSTED', title: 'Too many requests' },
  // FIREBASE_CHECK_REVOKED: what firebase-admin's verifyIdToken(token, true) refuses.
  user_not_found: { http: 401, callable: 'UNAUTHENTICATED', title: 'Account not found' },
  user_disabled: { http: 401, callable: 'UNAUTHENTICATED', title: 'Account disabled' },
  token_revoked: { http: 401, callable: 'UNAUTHENTICATED', title: 'ID token revoked' },
  firebase_unavailable: { http: 503, callable: 'UNAVAILABLE', title: 'Firebase unavailable' },
  // As firebase-functions answers a callable with enforceAppCheck.
  app_check_failed: { http: 401, callable: 'UNAUTHENTICATED', title: 'App Check failed' },
  // The Worker's own settings are wrong: nothing a client can fix, but /healthz names them for whoever runs it.
  misconfigured: { http: 500, callable: 'INTERNAL', title: 'Service misconfigured' },
  internal: { http: 500, callable: 'INTERNAL', title: 'Internal error' },
};

/**
 * `Retry-After` for a dependency that is briefly away (D1, Google's keys,
 * Firebase's account lookup): a few seconds, since such outages are short and
 * a client that waits longer only delays its user. A fresh object per error,
 * since AppError's headers are its own.
 */
export const retrySoon = (): Record<string, string> => ({ 'Retry-After': '5' });

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  /** Extra response headers (e.g. Retry-After, Allow). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.headers = options?.headers ?? {};
  }

  get httpStatus(): number {
    return SPELLINGS[this.code].http;
  }

  get title(): string {
    return SPELLINGS[this.code].title;
  }

  get callableStatus(): CallableStatus {
    return SPELLINGS[this.code].callable;
  }

  get callableHttpStatus(): number {
    const spelling = SPELLINGS[this.code];
    return spelling.callableHttp ?? CALLABLE_HTTP_STATUS[spelling.callable];
  }
}

/**
 * Anything that is not an AppError is unexpected and answered as `internal`
 * with no detail, except D1 failing (its errors say `D1_…`), which is the
 * registry being unavailable: 503 with Retry-After, on every route (admin and
 * self-service included): the client should come back, not report a bug.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isStorageFailure(error)) {
    return new AppError('registry_unavailable', 'The user registry is unavailable; nothing was changed by what failed; try again shortly', {
      cause: error,
      headers: retrySoon(),
    });
  }
  return new AppError('internal', 'Internal error', { cause: error });
}

/** D1's own errors (`D1_ERROR`, `D1_EXEC_ERROR`, …), as workerd raises them. */
function isStorageFailure(error: unknown): boolean {
  return error instanceof Error && /^D1_[A-Z_]*ERROR\b/.test(error.message);
}
