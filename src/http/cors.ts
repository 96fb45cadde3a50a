/**
 * CORS per CORS_ALLOWED_ORIGINS, deny by default: with the setting empty no
 * page of another origin may call the Worker (mobile apps and servers send no
 * preflight and are unaffected). A refused preflight is answered the way a
 * browser understands as "not allowed" (204 without
 * `Access-Control-Allow-Origin`, never a 405 the browser hides behind an
 * opaque CORS failure), and logged once, naming the origin, so the operator
 * sees which origin to list.
 *
 * @module
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { CorsPolicy } from '../config/config';
import { log } from '../platform/log';

/** The headers Firebase's callable clients send; accepted and otherwise ignored. */
const ALLOWED_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Firebase-Instance-ID-Token',
  'X-Firebase-AppCheck',
  'X-Firebase-Client',
  'X-Firebase-GMPID',
];

/** An origin in a log line is the caller's text: bounded, so a preflight cannot write a long line. */
const MAX_LOGGED_ORIGIN = 200;

export function corsMiddleware(policy: CorsPolicy): MiddlewareHandler {
  const allowed = (origin: string) => policy.kind === 'any' || (policy.kind === 'list' && policy.origins.has(origin));
  const headers =
    policy.kind === 'none'
      ? undefined
      : cors({
          origin: policy.kind === 'any' ? '*' : (origin) => (allowed(origin) ? origin : null),
          allowMethods: ['GET', 'POST', 'OPTIONS'],
          allowHeaders: ALLOWED_REQUEST_HEADERS,
          // Not CORS-safelisted: without this a web page cannot read when to come back after a 429 or 503
          // (found by the browser test of the token provider).
          exposeHeaders: ['Retry-After'],
          maxAge: 600,
        });
  return async (c, next) => {
    const origin = c.req.header('Origin');
    const preflight = c.req.method === 'OPTIONS' && origin !== undefined && c.req.header('Access-Control-Request-Method') !== undefined;
    if (preflight && !allowed(origin)) {
      log.error('cors_origin_refused', {
        origin: origin.slice(0, MAX_LOGGED_ORIGIN),
        reason: "not in CORS_ALLOWED_ORIGINS: list the web app's origin there to let its pages call this Worker",
      });
      return new Response(null, { status: 204, headers: { Vary: 'Origin' } });
    }
    return headers ? headers(c, next) : next();
  };
}
