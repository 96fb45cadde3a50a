import { AppError, toAppError } from '../errors';

/**
 * The edge of the app: every error becomes exactly one kind of answer here.
 * REST gets RFC 9457 problem details; the Firebase callable protocol gets
 * `{"error": {"status", "message"}}`. Unexpected errors are logged (without
 * request data) and answered as `internal` with no detail.
 */
export type Protocol = 'rest' | 'callable';

const REALM = 'stream-token-edge';

export function errorResponse(error: unknown, protocol: Protocol): Response {
  const appError = toAppError(error);
  logError(error, appError);
  const headers = new Headers(appError.headers);
  headers.set('Cache-Control', 'no-store');
  const message = appError.code === 'internal' ? 'Internal error' : appError.message;

  if (protocol === 'callable') {
    headers.set('Content-Type', 'application/json');
    return new Response(JSON.stringify({ error: { status: appError.callableStatus, message } }), {
      status: appError.callableHttpStatus,
      headers,
    });
  }

  headers.set('Content-Type', 'application/problem+json');
  // RFC 6750 §3.1: `error` only when a token was sent; a request without one gets the bare challenge.
  if (appError.code === 'missing_authorization') headers.set('WWW-Authenticate', `Bearer realm="${REALM}"`);
  else if (appError.httpStatus === 401) headers.set('WWW-Authenticate', `Bearer realm="${REALM}", error="invalid_token"`);
  const problem = { type: 'about:blank', title: appError.title, status: appError.httpStatus, detail: message, code: appError.code };
  return new Response(JSON.stringify(problem), { status: appError.httpStatus, headers });
}

function logError(original: unknown, appError: AppError): void {
  if (appError.code === 'internal') {
    // Only the error's own name and message: never headers, bodies or tokens of the request.
    const cause = original instanceof Error ? `${original.name}: ${original.message}` : 'non-Error thrown';
    console.error(JSON.stringify({ event: 'unexpected_error', error: cause }));
  } else if (appError.httpStatus >= 500 || appError.code === 'stream_failed') {
    console.error(JSON.stringify({ event: 'request_failed', code: appError.code, message: appError.message }));
  }
}

export function json(body: unknown, status = 200, extraHeaders?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...extraHeaders },
  });
}
