/**
 * The edge of the app: every error becomes exactly one kind of answer here.
 * REST gets RFC 9457 problem details; the Firebase callable protocol gets
 * `{"error": {"status", "message"}}`, or, when the caller asked to stream
 * (`Accept: text/event-stream`), that same body as one server-sent event.
 * Unexpected errors are logged (without request data) and answered as
 * `internal` with no detail.
 *
 * @module
 */
import { AppError, toAppError } from '../errors';
import { log } from '../platform/log';

export type Protocol = 'rest' | 'callable';

/**
 * A callable's answer as firebase-functions v2 streams it: one `data:` event
 * with the final `{"result": …}` or `{"error": …}`, always HTTP 200 (the
 * status line is sent before the function runs). The Firebase SDKs read a
 * streamed answer's body only, never its status: a JSON error there would
 * leave `.data` pending for ever. No heartbeats: the answers are immediate.
 */
function callableEvent(body: { result: unknown } | { error: unknown }, headers?: Headers): Response {
  const all = new Headers(headers);
  all.set('Content-Type', 'text/event-stream');
  all.set('Cache-Control', 'no-store');
  return new Response(`data: ${JSON.stringify(body)}\n\n`, { status: 200, headers: all });
}

/** A callable's result: JSON, or the streamed event. */
export function callableResult(result: unknown, stream: boolean): Response {
  return stream ? callableEvent({ result }) : json({ result });
}

const REALM = 'stream-token-edge';

export function errorResponse(error: unknown, protocol: Protocol, stream = false): Response {
  const appError = toAppError(error);
  logError(error, appError);
  const headers = new Headers(appError.headers);
  headers.set('Cache-Control', 'no-store');
  const message = appError.code === 'internal' ? 'Internal error' : appError.message;

  if (protocol === 'callable') {
    const body = { error: { status: appError.callableStatus, message } };
    if (stream) return callableEvent(body, headers);
    headers.set('Content-Type', 'application/json');
    return new Response(JSON.stringify(body), {
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
    log.error('unexpected_error', { error: cause });
  } else if ((appError.httpStatus >= 500 && appError.code !== 'misconfigured') || appError.code === 'stream_failed') {
    // (misconfigured: logged once as invalid_config, with the settings' problems, where it is found.)
    log.error('request_failed', { code: appError.code, message: appError.message });
  }
}

export function json(body: unknown, status = 200, extraHeaders?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...extraHeaders },
  });
}
